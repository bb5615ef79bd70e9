"""Who owns a lead: the rule matcher, the pools and their shared state, the lead as routing reads it, its score."""

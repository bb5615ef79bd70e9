"""LeadRelay's view of the tenant's CRM, below every stage: the adapter for a tenant, its users, account
owners, our own writes (echoes), merged record ids and batch writes."""

"""First response and handoff (DESIGN.md steps 7b and 10): the lead's acknowledgment within a minute, through the
tenant's senders, and the handoff rules that give a lead to a human when a reply (or the lead itself) needs one."""

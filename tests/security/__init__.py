"""Security regressions: one test per finding of the access-control issue, each reproducing the attack."""

"""The flow of one lead after intake: normalize, dedup, qualify, route, write back (DESIGN.md steps 2-7)."""

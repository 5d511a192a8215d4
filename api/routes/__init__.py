"""One router module per surface or resource."""

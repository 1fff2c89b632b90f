"""Models that predict failures and remaining useful life: trained, versioned, served, watched."""

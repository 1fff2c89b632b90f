"""Who may do what: users, roles, tokens, API keys, and the audit trail of every change."""

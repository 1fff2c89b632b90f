"""The plant's states as the dashboard shows them: rules, the query, the live feed."""

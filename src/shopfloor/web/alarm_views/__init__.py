"""What the alarms page shows and does: rows read for display, the list's filters, its live
feed, an alarm's history, and the actions people take (through ``alarms.service``)."""

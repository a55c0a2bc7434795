"""Use cases of the notify service: handle an event, retry due deliveries, send reminders."""

"""The notifier service: tells customers and staff about what concerns them, once per event and channel."""

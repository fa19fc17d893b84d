"""postloan's shared package: event contracts and messaging plumbing. No business rules live here."""

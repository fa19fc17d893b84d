"""The appointments service: branch plans, capacity, bookings that never overbook, check-in."""

"""A replica: loads only verified model versions and answers recommendations."""

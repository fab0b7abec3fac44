"""Business plans: subscription throttling policies, with their optional monetization."""

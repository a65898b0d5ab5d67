"""Labels: users, queues, consensus, agreement, interchange."""

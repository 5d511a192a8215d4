"""What the coding-tasks routes do beyond reading the request: records, GitHub calls, configs."""

"""One module per oneM2M resource type: its attribute table and its type-specific hooks."""

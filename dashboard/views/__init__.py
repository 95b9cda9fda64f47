"""The dashboard's view routes, one module per view."""

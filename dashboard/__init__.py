"""The server-rendered dashboard: Jinja templates, view routes, static assets."""

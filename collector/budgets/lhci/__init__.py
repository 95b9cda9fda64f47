"""The Lighthouse CI server: its REST API, projects, builds and runs, statistics, retention."""

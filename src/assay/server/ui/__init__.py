"""The web UI: server-rendered pages (Jinja2), htmx for interaction, uPlot for charts."""

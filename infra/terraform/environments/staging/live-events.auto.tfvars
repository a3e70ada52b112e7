# Announced live events: the api and edge services pre-scale 30 minutes before start_time.
# Add an entry in a pull request, remove it once the event is over (docs/deploy.md).
# live_events = [
#   { name = "cup-final", start_time = "2026-12-06T19:30:00Z", expected_viewers = 200000, duration_minutes = 180 },
# ]
live_events = []

"""`python -m streamstack` is the streamstack command."""

from streamstack.cli import app

app()

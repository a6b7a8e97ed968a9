"""``python -m gzbcat`` runs the command line."""

from gzbcat.cli import app

app(prog_name="gzbcat")

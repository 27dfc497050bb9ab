"""Deployment to a board: bundle (bundle.py), SSH transport (ssh.py), pre-flight checks on the
board's facts (checks.py) and the release switch with health check and rollback (deploy.py).
The board side is one POSIX shell script, templates/remote.sh."""

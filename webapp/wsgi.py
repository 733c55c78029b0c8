"""WSGI entry point for production servers: `gunicorn -c webapp/gunicorn_conf.py webapp.wsgi:app`.

The settings come from the environment, read once by webapp/config.py (DATABASE_URL, SECRET_KEY, APP_ENV=production,
…; see README "Production"). With APP_ENV=production the app refuses to start without SECRET_KEY or PUBLIC_BASE_URL, or with a
non-PostgreSQL URL.
"""

from webapp import create_app

app = create_app()

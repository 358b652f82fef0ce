"""The seed's app in the test VM: Django (Debian 12's 3.2) under gunicorn, its cache and its sessions in Redis
(django-redis), as a small production site is set up. Nothing here is secret: the VM lives for one test run."""

SECRET_KEY = 'headroom-test-vm-only-not-a-secret'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'headroom_app.urls'
WSGI_APPLICATION = 'headroom_app.wsgi.application'
INSTALLED_APPS = []
MIDDLEWARE = ['django.contrib.sessions.middleware.SessionMiddleware']
DATABASES = {}
USE_TZ = True
# Django's cache in Redis DB 0: keys are ":1:<key>" (KEY_PREFIX "", VERSION 1), sessions
# ":1:django.contrib.sessions.cache<session key>" (the cache session backend's prefix)
CACHES = {
    'default': {
        'BACKEND': 'django_redis.cache.RedisCache',
        'LOCATION': 'redis://127.0.0.1:6379/0',
        'TIMEOUT': None,
        'OPTIONS': {'SOCKET_CONNECT_TIMEOUT': 5, 'SOCKET_TIMEOUT': 30},
    },
}
SESSION_ENGINE = 'django.contrib.sessions.backends.cache'
LOGGING = {
    'version': 1,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'root': {'handlers': ['console'], 'level': 'WARNING'},
}

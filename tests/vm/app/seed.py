"""Fill the app's Redis as a site's traffic would: cached reports (":1:report:N", disposable), sessions
(":1:django.contrib.sessions.cache<key>", users' logins: to be kept) and a few settings (":1:settings:*", kept).

    python3 seed.py REPORT_MIB SESSIONS     (run in the app's directory; prints the counts as JSON)
"""
import json
import os
import sys

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'headroom_app.settings')
import django  # noqa: E402

django.setup()
from django.contrib.sessions.backends.cache import SessionStore  # noqa: E402
from django.core.cache import cache  # noqa: E402

REPORT_BYTES = 64 << 10


def main(report_mib, sessions):
    count = (report_mib << 20) // REPORT_BYTES
    for start in range(0, count, 100):
        cache.set_many(dict(('report:%d' % index, os.urandom(REPORT_BYTES)) for index in range(start, min(count, start + 100))))
    keys = []
    for index in range(sessions):
        session = SessionStore()
        session['user_id'] = index
        session['cart'] = list(range(20))
        session.create()
        keys.append(session.session_key)
    cache.set_many({'settings:flags': {'beta': False}, 'settings:version': 3})
    print(json.dumps({'reports': count, 'report_bytes': REPORT_BYTES, 'sessions': len(keys)}))


if __name__ == '__main__':
    main(int(sys.argv[1]), int(sys.argv[2]))

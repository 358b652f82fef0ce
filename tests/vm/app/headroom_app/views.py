"""Three endpoints: the front page (light: a session and a cached fragment), a report that needs a lot of memory
for a while (heavy: the kind of request that spikes a worker), and a health check."""
import os
import time

from django.core.cache import cache
from django.http import HttpResponse, JsonResponse

PAGE = 4096


def front(request):
    request.session['visits'] = request.session.get('visits', 0) + 1
    fragment = cache.get_or_set('front:fragment', lambda: 'x' * 2048)
    return JsonResponse({'pid': os.getpid(), 'visits': request.session['visits'], 'fragment': len(fragment)})


def heavy(request):
    """``mb`` MiB held for ``hold`` seconds, each page written (a whole queryset or file read into memory);
    with ``churn``, written again and again while held (a working set the worker keeps touching)."""
    size = int(request.GET.get('mb', '100')) << 20
    hold = float(request.GET.get('hold', '1'))
    churn = request.GET.get('churn') == '1'
    started = time.monotonic()
    blob = bytearray(size)
    for offset in range(0, size, PAGE):
        blob[offset] = 1
    passes = 1
    while time.monotonic() - started < hold:
        if churn:
            for offset in range(0, size, PAGE):
                blob[offset] = passes & 0xff
            passes += 1
        else:
            time.sleep(min(0.1, hold))
    response = JsonResponse({'pid': os.getpid(), 'mb': size >> 20, 'passes': passes,
                             'seconds': round(time.monotonic() - started, 2)})
    del blob
    return response


def health(request):
    return HttpResponse('ok\n', content_type='text/plain')

"""The viewer simulator: Locust viewers that play live (LL-HLS and standard) and VOD like hls.js, against the edge.

    .venv/bin/python -m loadtest            # the spike: N -> 10N viewers in 60 s, every layout, one table
    .venv/bin/python -m loadtest --help

Modules: `media` encodes a short clip once with the real live encoder; `publisher` replays it through the
real packager into the store in real time (its own process); `stack` starts the edges, the shield and the
nginx anchor; `viewers` are the Locust users; `spike` drives one ramp and measures it; `__main__` prints.
Nothing here imports Locust at package import: Locust patches the process (gevent), so only the
generator's process (`python -m loadtest`) loads it.
"""

"""The refresher: keeps each package's GitHub and PyPI stats current, within the upstream quotas.

- ``gate``: per-host concurrency, quota accounting and rate-limit pauses.
- ``upstream``: one HTTP exchange with retries, redirects and conditional requests.
- ``github`` / ``pypi``: what to ask each upstream and how to read the answers.
- ``hosts``: which repository hosts can be fetched (the seam for GitLab, Bitbucket...).
- ``state``: claiming due packages with leases, and writing results without clobbering edits.
- ``runner``: a pass over the due packages, and the loop that keeps refreshing.
"""

"""The Heirloom API from Python: `Heirloom` for the common path (upload, follow, download,
share), `verify_webhook` for a receiver, and the generated client (`heirloom_client.generated`)
for every route.

```python
from heirloom_client import Heirloom

with Heirloom("https://heirloom.example", api_key="hl_...") as heirloom:
    job = heirloom.upload("grandparents.jpg", "restore,colorize")
    job = heirloom.wait(job.id)            # follows the job's event stream to its end
    restored = heirloom.download_result(job.id)
```
"""

from heirloom_client.errors import ApiError
from heirloom_client.heirloom import FINAL_EVENTS, Event, Heirloom
from heirloom_client.webhooks import SIGNATURE_HEADER, verify_webhook

__all__ = ["FINAL_EVENTS", "SIGNATURE_HEADER", "ApiError", "Event", "Heirloom", "verify_webhook"]

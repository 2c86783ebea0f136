// ReDoc over this API's own document, with the system fonts (no font CDN).
Redoc.init("/openapi.json", {}, document.getElementById("redoc"));

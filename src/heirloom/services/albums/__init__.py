"""Albums: many photos in one request, one job each, charged together, with one stream, one
ZIP of results and one share link."""

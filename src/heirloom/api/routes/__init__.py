"""One module per resource, each an APIRouter; the operators' routes are in `admin/`."""

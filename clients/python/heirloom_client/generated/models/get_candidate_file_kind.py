from typing import Literal

GetCandidateFileKind = Literal["comparison", "result", "thumbnail"]

GET_CANDIDATE_FILE_KIND_VALUES: set[GetCandidateFileKind] = {
    "comparison",
    "result",
    "thumbnail",
}


def check_get_candidate_file_kind(value: str) -> GetCandidateFileKind:
    if value in GET_CANDIDATE_FILE_KIND_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {GET_CANDIDATE_FILE_KIND_VALUES!r}"
    )

from typing import Literal

GetResultFormatType0 = Literal["jpeg", "png"]

GET_RESULT_FORMAT_TYPE_0_VALUES: set[GetResultFormatType0] = {
    "jpeg",
    "png",
}


def check_get_result_format_type_0(value: str) -> GetResultFormatType0:
    if value in GET_RESULT_FORMAT_TYPE_0_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {GET_RESULT_FORMAT_TYPE_0_VALUES!r}"
    )

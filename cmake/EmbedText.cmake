# Writes the text of INPUT to OUTPUT as a C++ raw string literal, so that a
# source can paste a header verbatim into the code it generates:
#   cmake -DINPUT=header.h -DOUTPUT=header.inc -P EmbedText.cmake
file(READ "${INPUT}" text)
string(FIND "${text}" ")LLAMAC_TEXT\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter")
endif()
file(WRITE "${OUTPUT}.tmp" "R\"LLAMAC_TEXT(${text})LLAMAC_TEXT\"\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")

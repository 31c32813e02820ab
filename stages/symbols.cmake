# stages/symbols.cmake - one source of truth for a stage's symbols and weights.
#
# sluice_stage_symbols(STAGE TSV) takes the stage's symbols.tsv
# (NAME<TAB>default weight or -<TAB>description, '#' comments), installs it
# as share/sluice/symbols/STAGE.tsv (and copies it there in the build tree,
# where `sluice symbols` looks beside bin/), and writes STAGE_symbols.h in the
# stage's build folder for its C code:
#   #define URL_W_URL_PHISHING 5.0                  one per symbol with a number
#   #define URL_SYMBOLS(X) X("URL_PHISHING", 5.0) ...  the same as a table
# so the weights live only in the tsv. Rows whose weight is "-" (set by
# config) or whose name has a '*' are left out of the header.
# Checked by tests/e2e/test_symbol_tables.py.
#
# sluice_stage_symbols_table(STAGE TSV) only installs and copies the table,
# for stages whose C code keeps its own weights (the test compares them).
function(sluice_stage_symbols_table stage tsv)
    install(FILES ${tsv} DESTINATION share/sluice/symbols RENAME ${stage}.tsv)
    configure_file(${tsv} ${CMAKE_BINARY_DIR}/share/sluice/symbols/${stage}.tsv COPYONLY)
endfunction()

function(sluice_stage_symbols stage tsv)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${tsv})
    sluice_stage_symbols_table(${stage} ${tsv})
    string(TOUPPER ${stage} prefix)
    string(REPLACE "-" "_" prefix ${prefix})
    file(STRINGS ${tsv} lines)
    set(defines "")
    set(table "")
    foreach(line IN LISTS lines)
        if(line MATCHES "^([A-Z][A-Z0-9_]*)\t(-?[0-9]+(\\.[0-9]+)?)\t")
            string(APPEND defines "#define ${prefix}_W_${CMAKE_MATCH_1} (${CMAKE_MATCH_2})\n")
            string(APPEND table " \\\n    X(\"${CMAKE_MATCH_1}\", ${CMAKE_MATCH_2})")
        endif()
    endforeach()
    set(out "/* ${stage}_symbols.h - generated from the ${stage} stage's symbols.tsv by stages/symbols.cmake; edit the tsv. */\n")
    string(APPEND out "#ifndef ${prefix}_SYMBOLS_H\n#define ${prefix}_SYMBOLS_H\n${defines}")
    string(APPEND out "#define ${prefix}_SYMBOLS(X)${table}\n#endif\n")
    # Written only when it changes, so an unrelated re-configure rebuilds nothing.
    file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${stage}_symbols.h CONTENT "${out}"
         @ONLY)
endfunction()

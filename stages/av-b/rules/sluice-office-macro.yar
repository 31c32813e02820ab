/*
 * stages/av-b/rules/sluice-office-macro.yar - Office documents with auto-run macros.
 *
 * Matches the VBA container itself: an OLE2 file (an old .doc/.xls, or the
 * vbaProject.bin that mime takes out of a .docm/.xlsm) that has a VBA
 * project and names an entry point Office runs on open or close.
 */
rule Sluice_Office_AutoRun_Macro
{
    meta:
        name = "Sluice.Office.AutoRunMacro"
        description = "OLE2 VBA project with an auto-run entry point"
    strings:
        $vba_stream = "_VBA_PROJECT" wide
        $vba_dir = "VBA" wide
        $attr = "Attribute VB_" nocase
        $auto1 = "AutoOpen" nocase
        $auto2 = "Auto_Open" nocase
        $auto3 = "Document_Open" nocase
        $auto4 = "Workbook_Open" nocase
        $auto5 = "AutoExec" nocase
        $auto6 = "AutoClose" nocase
        $auto7 = "Document_Close" nocase
        $auto8 = "Auto_Close" nocase
        $auto9 = "Document_New" nocase
    condition:
        uint32(0) == 0xE011CFD0 and uint32(4) == 0xE11AB1A1 and
        ($vba_stream or ($vba_dir and $attr)) and any of ($auto*)
}

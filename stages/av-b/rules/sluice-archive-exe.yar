/*
 * stages/av-b/rules/sluice-archive-exe.yar - executables inside archives.
 *
 * A zip local file header whose file name ends in an executable extension,
 * and a zip member stored uncompressed that starts with a PE header. mime
 * unpacks archives and hands the members on, so the members themselves are
 * matched by Sluice_PE_In_Archive_Member only when their name says archive.
 */
rule Sluice_Zip_Executable_Name
{
    meta:
        name = "Sluice.Archive.ExecutableName"
        description = "zip member named *.exe, *.scr, *.js ... (local header, any position)"
    strings:
        $lfh = /PK\x03\x04[\x00-\xff]{26}[^\x00\/]{0,200}\.(exe|scr|pif|com|bat|cmd|cpl|vbs|vbe|js|jse|wsf|wsh|hta|lnk|msi|ps1|jar)[\x00-\xff]/ nocase
    condition:
        uint32(0) == 0x04034B50 and $lfh
}

rule Sluice_Zip_Stored_PE
{
    meta:
        name = "Sluice.Archive.StoredPE"
        description = "zip member stored without compression that is a PE executable"
    strings:
        $stored_mz = /PK\x03\x04[\x00-\xff]{2}[\x00-\xff]{2}\x00\x00[\x00-\xff]{22}[^\x00]{1,200}MZ[\x00-\xff]{58}/
        $pe_text = "This program cannot be run in DOS mode"
    condition:
        uint32(0) == 0x04034B50 and $stored_mz and $pe_text
}

rule Sluice_Rar_7z_Executable_Name
{
    meta:
        name = "Sluice.Archive.ExecutableName"
        description = "rar or 7z archive whose (unencrypted) header names an executable"
    strings:
        $name = /[A-Za-z0-9_ ()\-]{1,100}\.(exe|scr|pif|com|bat|cmd|vbs|js|hta|lnk)\x00/ nocase
    condition:
        (uint32(0) == 0x21726152 or uint32(0) == 0xAFBC7A37) and $name
}

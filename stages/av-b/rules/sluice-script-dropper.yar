/*
 * stages/av-b/rules/sluice-script-dropper.yar - scripts that fetch or write and run a program.
 *
 * Windows Script Host (JScript/VBScript), HTA and PowerShell droppers: an
 * object that runs commands together with one that downloads or writes
 * files, or PowerShell's download-and-execute idioms. Limited to objects up
 * to 2 MB: droppers are small, mailing-list digests are not.
 */
rule Sluice_Script_Dropper_WSH
{
    meta:
        name = "Sluice.Script.Dropper"
        description = "WSH script creating a shell and fetching or writing a file"
    strings:
        $shell = "WScript.Shell" nocase
        $create1 = "CreateObject" nocase
        $create2 = "ActiveXObject" nocase
        $fetch1 = "MSXML2.XMLHTTP" nocase
        $fetch2 = "WinHttp.WinHttpRequest" nocase
        $fetch3 = "MSXML2.ServerXMLHTTP" nocase
        $write1 = "ADODB.Stream" nocase
        $write2 = "SaveToFile" nocase
        $run1 = ".Run" nocase
        $run2 = ".Exec" nocase
        $run3 = "ShellExecute" nocase
    condition:
        filesize < 2MB and any of ($create*) and $shell and any of ($run*) and
        (any of ($fetch*) or all of ($write*))
}

rule Sluice_Script_Dropper_PowerShell
{
    meta:
        name = "Sluice.Script.Dropper"
        description = "PowerShell download-and-execute or encoded command"
    strings:
        $ps = "powershell" nocase
        $dl1 = "DownloadString" nocase
        $dl2 = "DownloadFile" nocase
        $dl3 = "Invoke-WebRequest" nocase
        $dl4 = "Net.WebClient" nocase
        $ex1 = "IEX" nocase fullword
        $ex2 = "Invoke-Expression" nocase
        $ex3 = "Start-Process" nocase
        $enc = /powershell(\.exe)?["']?\s+[^\n]{0,60}-(e|ec|en|enc|enco|encod|encodedcommand)\s+[A-Za-z0-9+\/=]{40,}/ nocase
        $hidden = /-w(indowstyle)?\s+hidden/ nocase
    condition:
        filesize < 2MB and ($enc or ($ps and any of ($dl*) and any of ($ex*)) or
        ($ps and $hidden and any of ($dl*)))
}

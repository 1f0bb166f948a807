; vxassist for Windows: a per-machine install of the agent's bundle (Inno Setup 6).
;
; Build (from this folder, after scripts/build-bundle.sh or the CI's PyInstaller step):
;   iscc /DAppVersion=0.1.0 vxassist.iss
; which takes the one-folder bundle from BundleDir and writes
; dist\windows\vxassist-<version>-setup.exe. installer/windows/README.md lists the
; silent-install parameters; tests/installer/test_windows_iss.py checks this file
; against the agent's code (policy path, policy keys, defaults, parameters).
;
; What it does:
; - installs the bundle to {autopf}\vxassist (C:\Program Files\vxassist);
; - starts the tray at every user's login through HKLM's Run key (value "vxassist",
;   the name the tray's own per-user "start at login" switch uses under HKCU: the
;   agent sees the machine's value, shows the switch as on and locked, and writes
;   no second entry, so login never starts two agents);
; - writes the machine policy to the path the agent reads on Windows
;   (platformdirs' site config folder: {commonappdata}\Communicado\vxassist\policy.toml)
;   from its two wizard pages or from /PARAM=value on the command line, owned by
;   Administrators, changeable only by Administrators and SYSTEM, readable by Users;
; - before an upgrade and before removal, ends the live remote sessions and stops
;   the running agents;
; - uninstall removes what it added and keeps each user's audit trail and session
;   recordings (%LOCALAPPDATA%\Communicado\vxassist\audit and \recordings, written
;   by the agent, never by this installer), and says so.

#define AppName "vxassist"
#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
; the PyInstaller one-folder bundle (installer/bundle/vxassist.spec)
#ifndef BundleDir
  #define BundleDir "..\..\dist\bundle\vxassist"
#endif
; the program the command line runs, and the one a login starts (the same
; program today; a windowed twin for the tray would go here)
#define CliExe "vxassist.exe"
#ifndef TrayExe
  #define TrayExe "vxassist.exe"
#endif
; where the agent reads the machine policy on Windows: vxassist.paths.Paths uses
; platformdirs.site_config_dir("vxassist", "Communicado")
#define PolicyDir "{commonappdata}\Communicado\vxassist"
#define PolicyFile PolicyDir + "\policy.toml"
; where the agent keeps each user's audit trail and recordings (platformdirs'
; user_data_dir): kept on uninstall, named in its closing message
#define UserDataDir "%LOCALAPPDATA%\Communicado\vxassist"
#define RunKey "Software\Microsoft\Windows\CurrentVersion\Run"

[Setup]
; the AppId ties upgrades and the uninstaller to this product: never change it
AppId={{8AF1B556-E6B3-42D7-80D5-C25E5F7942EC}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Communicado
DefaultDirName={autopf}\vxassist
DisableProgramGroupPage=yes
; per machine: Program Files, HKLM, ProgramData all need an administrator
PrivilegesRequired=admin
; the bundle is built by 64-bit Python; HKLM and {autopf} are the 64-bit ones
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist\windows
OutputBaseFilename=vxassist-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
; agents of other users that still hold the program's files are closed by the
; Restart Manager (PrepareToInstall has already asked them to end their sessions);
; they start again at their users' next login, not now
CloseApplications=force
RestartApplications=no
UninstallDisplayIcon={app}\{#TrayExe}
UninstallDisplayName={#AppName}
; the only per-user entry it touches is the installing administrator's own
; duplicate Run value (removed): no warning about per-user areas is needed
UsedUserAreasWarning=no
SetupLogging=yes

[Tasks]
Name: "autostart"; Description: "Start the vxassist tray at every user's login"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
; the policy template, filled in by [Code] (never installed as a file)
Source: "policy.toml.in"; Flags: dontcopy

[Dirs]
; created here so that uninstall removes it when it is empty again
Name: "{#PolicyDir}"

[Icons]
Name: "{autoprograms}\vxassist"; Filename: "{app}\{#TrayExe}"; Comment: "Remote assistance and support cases"

[Registry]
; the tray at every user's login (the same value name as the per-user switch)
Root: HKLM; Subkey: "{#RunKey}"; ValueType: string; ValueName: "vxassist"; ValueData: """{app}\{#TrayExe}"""; Flags: uninsdeletevalue; Tasks: autostart
; an upgrade without the task takes the machine's entry away again
Root: HKLM; Subkey: "{#RunKey}"; ValueType: none; ValueName: "vxassist"; Flags: deletevalue; Tasks: not autostart
; the installing administrator's own per-user entry would start a second agent
Root: HKCU; Subkey: "{#RunKey}"; ValueType: none; ValueName: "vxassist"; Flags: deletevalue; Tasks: autostart

[Run]
; The policy folder and file: owned by Administrators, inheritance from ProgramData
; removed (its Users:create-files entry would let any user add files there),
; Administrators and SYSTEM full control, Users read. SIDs, not names, so that it
; works in every Windows language: S-1-5-32-544 Administrators, S-1-5-18 SYSTEM,
; S-1-5-32-545 Users. The file is written by [Code] at ssPostInstall, before these run.
Filename: "{sys}\icacls.exe"; Parameters: """{#PolicyDir}"" /setowner *S-1-5-32-544 /T /C /Q"; Flags: runhidden waituntilterminated; StatusMsg: "Protecting the machine policy..."
Filename: "{sys}\icacls.exe"; Parameters: """{#PolicyDir}"" /inheritance:r /grant:r *S-1-5-32-544:(OI)(CI)F *S-1-5-18:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX /C /Q"; Flags: runhidden waituntilterminated
Filename: "{sys}\icacls.exe"; Parameters: """{#PolicyFile}"" /inheritance:r /grant:r *S-1-5-32-544:F *S-1-5-18:F *S-1-5-32-545:R /C /Q"; Flags: runhidden waituntilterminated; Check: PolicyFileExists
; start the tray for the person who ran the installer (not in silent installs)
Filename: "{app}\{#TrayExe}"; Description: "Start vxassist now"; Flags: postinstall nowait skipifsilent runasoriginaluser

[UninstallRun]
; end this account's live sessions the agent's own way (each is closed and its end
; written to the audit trail), then stop every agent still running, of any user
Filename: "{app}\{#CliExe}"; Parameters: "session end --all"; Flags: runhidden waituntilterminated; RunOnceId: "EndSessions"
Filename: "{sys}\taskkill.exe"; Parameters: "/F /T /IM {#CliExe}"; Flags: runhidden waituntilterminated; RunOnceId: "StopAgents"
#if TrayExe != CliExe
Filename: "{sys}\taskkill.exe"; Parameters: "/F /T /IM {#TrayExe}"; Flags: runhidden waituntilterminated; RunOnceId: "StopTrays"
#endif

[UninstallDelete]
; the policy file is written by [Code], so uninstall is told about it here
Type: files; Name: "{#PolicyFile}"
Type: dirifempty; Name: "{#PolicyDir}"
Type: dirifempty; Name: "{commonappdata}\Communicado"

[Code]
const
  Unset = '?unset?';
  ScopeNames = 'shell,files,forward';

var
  RemotePage: TInputOptionWizardPage;
  LimitsPage: TInputQueryWizardPage;

{ -- the command line: /NAME=value ------------------------------------------- }

function ParamValue(Name, Fallback: String): String;
begin
  Result := Trim(ExpandConstant('{param:' + Name + '|' + Fallback + '}'));
end;

function ParamGiven(Name: String): Boolean;
begin
  Result := ExpandConstant('{param:' + Name + '|' + Unset + '}') <> Unset;
end;

function AnyPolicyParamGiven: Boolean;
begin
  Result := ParamGiven('REMOTE') or ParamGiven('SCOPES') or ParamGiven('MAXMINUTES')
    or ParamGiven('FORWARD') or ParamGiven('DESK') or ParamGiven('SESSIONACCOUNT');
end;

{ An existing policy (an upgrade, or one an administrator edited) is kept unless
  the command line names a policy value or /POLICY=write; /POLICY=keep keeps it. }
function WritePolicy: Boolean;
var
  Choice: String;
begin
  Choice := Lowercase(ParamValue('POLICY', ''));
  if Choice = 'write' then
    Result := True
  else if Choice = 'keep' then
    Result := not FileExists(ExpandConstant('{#PolicyFile}'))
  else
    Result := AnyPolicyParamGiven or not FileExists(ExpandConstant('{#PolicyFile}'));
end;

function PolicyFileExists: Boolean;
begin
  Result := FileExists(ExpandConstant('{#PolicyFile}'));
end;

{ -- small text helpers ----------------------------------------------------- }

function SplitList(S: String): TArrayOfString;
var
  P, N: Integer;
  Item: String;
begin
  SetArrayLength(Result, 0);
  S := S + ',';
  while Length(S) > 0 do
  begin
    P := Pos(',', S);
    Item := Trim(Copy(S, 1, P - 1));
    Delete(S, 1, P);
    if Item <> '' then
    begin
      N := GetArrayLength(Result);
      SetArrayLength(Result, N + 1);
      Result[N] := Item;
    end;
  end;
end;

function InList(Item, CommaList: String): Boolean;
var
  Items: TArrayOfString;
  I: Integer;
begin
  Result := False;
  Items := SplitList(CommaList);
  for I := 0 to GetArrayLength(Items) - 1 do
    if CompareText(Items[I], Item) = 0 then
      Result := True;
end;

{ printable ASCII without quotes or backslashes: what TOML holds as written }
function PlainText(S: String): Boolean;
var
  I: Integer;
begin
  Result := True;
  for I := 1 to Length(S) do
    if (Ord(S[I]) < 33) or (Ord(S[I]) > 126) or (S[I] = '"') or (S[I] = '\') then
      Result := False;
end;

function IsOn(S: String): Boolean;
begin
  S := Lowercase(Trim(S));
  Result := (S = 'on') or (S = 'true') or (S = 'yes') or (S = '1');
end;

function IsOnOrOff(S: String): Boolean;
begin
  S := Lowercase(Trim(S));
  Result := IsOn(S) or (S = 'off') or (S = 'false') or (S = 'no') or (S = '0');
end;

{ -- the policy's values, checked the same way from the wizard and the command line -- }

function PolicyError(Remote, Scopes, MaxMinutes, Targets, Desk, Account: String): String;
var
  Items: TArrayOfString;
  Target: String;
  I, J, P, Port, Minutes: Integer;
begin
  Result := '';
  if not IsOnOrOff(Remote) then
    Result := 'REMOTE must be on or off.';
  Items := SplitList(Scopes);
  for I := 0 to GetArrayLength(Items) - 1 do
    if not InList(Items[I], ScopeNames) then
      Result := 'Unknown scope "' + Items[I] + '": the scopes are shell, files and forward.';
  Minutes := StrToIntDef(Trim(MaxMinutes), -1);
  if (Minutes < 1) or (Minutes > 1440) then
    Result := 'The longest session must be a number of minutes from 1 to 1440.';
  Items := SplitList(Targets);
  for I := 0 to GetArrayLength(Items) - 1 do
  begin
    Target := Items[I];
    { the port follows the last colon ([::1]:22 has colons in its host); a loop
      that never reads Target[0], whatever the script engine's boolean evaluation }
    P := 0;
    for J := 1 to Length(Target) do
      if Target[J] = ':' then
        P := J;
    Port := StrToIntDef(Copy(Target, P + 1, Length(Target)), 0);
    if (P < 2) or (Port < 1) or (Port > 65535) or not PlainText(Target) then
      Result := 'Forward target "' + Target + '" is not HOST:PORT (for example 127.0.0.1:3389).';
  end;
  Desk := Trim(Desk);
  if (Desk <> '') and (not PlainText(Desk)
      or ((Pos('https://', Lowercase(Desk)) <> 1) and (Pos('http://', Lowercase(Desk)) <> 1))) then
    Result := 'The desk address must start with https:// (or be empty).';
  if (Trim(Account) = '') or not PlainText(Trim(Account)) then
    Result := 'The session account must be an account name without spaces or quotes.';
end;

function ChosenScopes: String;
begin
  Result := '';
  if RemotePage.Values[1] then Result := Result + 'shell,';
  if RemotePage.Values[2] then Result := Result + 'files,';
  if RemotePage.Values[3] then Result := Result + 'forward,';
end;

function RemoteChoice: String;
begin
  if RemotePage.Values[0] then Result := 'on' else Result := 'off';
end;

function PageError: String;
begin
  Result := PolicyError(RemoteChoice, ChosenScopes, LimitsPage.Values[0],
    LimitsPage.Values[1], LimitsPage.Values[2], LimitsPage.Values[3]);
end;

{ -- TOML, as the template's placeholders need it --------------------------- }

function TomlString(S: String): String;
begin
  StringChangeEx(S, '\', '\\', True);
  StringChangeEx(S, '"', '\"', True);
  Result := '"' + S + '"';
end;

function TomlList(CommaList: String): String;
var
  Items: TArrayOfString;
  I: Integer;
begin
  Items := SplitList(CommaList);
  Result := '[';
  for I := 0 to GetArrayLength(Items) - 1 do
  begin
    if I > 0 then Result := Result + ', ';
    Result := Result + TomlString(Lowercase(Items[I]));
  end;
  Result := Result + ']';
end;

function TomlBool(Value: Boolean): String;
begin
  if Value then Result := 'true' else Result := 'false';
end;

{ One template line with its @NAME@ placeholders filled in from the wizard's pages
  (which hold the command line's values in a silent install). }
function FillLine(Line: String): String;
begin
  StringChangeEx(Line, '@REMOTE_ENABLED@', TomlBool(RemotePage.Values[0]), True);
  StringChangeEx(Line, '@SCOPES@', TomlList(ChosenScopes), True);
  StringChangeEx(Line, '@MAX_MINUTES@', IntToStr(StrToIntDef(Trim(LimitsPage.Values[0]), 0)), True);
  StringChangeEx(Line, '@FORWARD_TARGETS@', TomlList(LimitsPage.Values[1]), True);
  StringChangeEx(Line, '@DESK_URL@', TomlString(Trim(LimitsPage.Values[2])), True);
  StringChangeEx(Line, '@SESSION_ACCOUNT@', TomlString(Trim(LimitsPage.Values[3])), True);
  Result := Line;
end;

procedure WritePolicyFile;
var
  Lines: TArrayOfString;
  I: Integer;
  Target: String;
begin
  ExtractTemporaryFile('policy.toml.in');
  if not LoadStringsFromFile(ExpandConstant('{tmp}\policy.toml.in'), Lines) then
    RaiseException('The policy template could not be read.');
  for I := 0 to GetArrayLength(Lines) - 1 do
    Lines[I] := FillLine(Lines[I]);
  Target := ExpandConstant('{#PolicyFile}');
  ForceDirectories(ExtractFileDir(Target));
  { a file someone else put there first goes, with its owner; [Run] then sets the ACL }
  DeleteFile(Target);
  if not SaveStringsToUTF8FileWithoutBOM(Target, Lines, False) then
    RaiseException('The machine policy could not be written to ' + Target + '.');
  Log('Machine policy written to ' + Target);
end;

{ -- live sessions, before an upgrade or a removal ------------------------- }

procedure EndLiveSessions(ExePath: String);
var
  Code: Integer;
begin
  if not FileExists(ExePath) then
    Exit;
  { this account's agent ends its sessions itself (the audit trail gets each end) }
  Exec(ExePath, 'session end --all', '', SW_HIDE, ewWaitUntilTerminated, Code);
  Log('vxassist session end --all: exit code ' + IntToStr(Code));
  { every other agent (other users' trays) is stopped: their tunnels close with them }
  Exec(ExpandConstant('{sys}\taskkill.exe'), '/F /T /IM {#CliExe}', '', SW_HIDE,
    ewWaitUntilTerminated, Code);
#if TrayExe != CliExe
  Exec(ExpandConstant('{sys}\taskkill.exe'), '/F /T /IM {#TrayExe}', '', SW_HIDE,
    ewWaitUntilTerminated, Code);
#endif
end;

{ -- the wizard ---------------------------------------------------------------- }

function InitializeSetup: Boolean;
var
  Problem: String;
begin
  Result := True;
  Problem := PolicyError(ParamValue('REMOTE', 'on'),
    ParamValue('SCOPES', 'shell,files,forward'), ParamValue('MAXMINUTES', '120'),
    ParamValue('FORWARD', '127.0.0.1:3389'), ParamValue('DESK', ''),
    ParamValue('SESSIONACCOUNT', 'vxsession'));
  if (Problem = '') and (ParamValue('POLICY', '') <> '')
      and not InList(ParamValue('POLICY', ''), 'keep,write') then
    Problem := 'POLICY must be keep or write.';
  if Problem <> '' then
  begin
    Log('Bad command line: ' + Problem);
    SuppressibleMsgBox('vxassist setup: ' + Problem + ' Fix the command line and run setup again.',
      mbCriticalError, MB_OK, IDOK);
    Result := False;
  end;
end;

procedure InitializeWizard;
var
  Scopes: String;
begin
  RemotePage := CreateInputOptionPage(wpSelectTasks, 'Remote sessions',
    'What support engineers may do on this computer',
    'These are the most remote sessions may do here. Every session still needs the ' +
    'approval of the person at the computer, and each user can only tighten these limits.',
    False, False);
  RemotePage.Add('Allow remote sessions on this computer');
  RemotePage.Add('Engineers may open a command shell');
  RemotePage.Add('Engineers may transfer files');
  RemotePage.Add('Engineers may reach the local services listed on the next page');
  Scopes := ParamValue('SCOPES', 'shell,files,forward');
  RemotePage.Values[0] := IsOn(ParamValue('REMOTE', 'on'));
  RemotePage.Values[1] := InList('shell', Scopes);
  RemotePage.Values[2] := InList('files', Scopes);
  RemotePage.Values[3] := InList('forward', Scopes);

  LimitsPage := CreateInputQueryPage(RemotePage.ID, 'Limits and support desk',
    'How long a session may last, what it may reach, and the support desk',
    'Leave the desk address empty to let each user enroll with the desk support names.');
  LimitsPage.Add('Longest session, in minutes (1 to 1440):', False);
  LimitsPage.Add('Local services engineers may reach (HOST:PORT, comma-separated):', False);
  LimitsPage.Add('Support desk address (https://...):', False);
  LimitsPage.Add('Account remote sessions run as when the agent runs as a service:', False);
  LimitsPage.Values[0] := ParamValue('MAXMINUTES', '120');
  LimitsPage.Values[1] := ParamValue('FORWARD', '127.0.0.1:3389');
  LimitsPage.Values[2] := ParamValue('DESK', '');
  LimitsPage.Values[3] := ParamValue('SESSIONACCOUNT', 'vxsession');
end;

function ShouldSkipPage(PageID: Integer): Boolean;
begin
  { an existing policy that stays as it is needs no questions }
  Result := ((PageID = RemotePage.ID) or (PageID = LimitsPage.ID)) and not WritePolicy;
end;

function NextButtonClick(CurPageID: Integer): Boolean;
var
  Problem: String;
begin
  Result := True;
  if CurPageID = LimitsPage.ID then
  begin
    Problem := PageError;
    if Problem <> '' then
    begin
      MsgBox(Problem, mbError, MB_OK);
      Result := False;
    end;
  end;
end;

function PrepareToInstall(var NeedsRestart: Boolean): String;
begin
  Result := '';
  if WritePolicy then
    Result := PageError;
  if Result = '' then
    EndLiveSessions(ExpandConstant('{app}\{#CliExe}'));
end;

procedure CurStepChanged(CurStep: TSetupStep);
begin
  if (CurStep = ssPostInstall) and WritePolicy then
    WritePolicyFile;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Kept: String;
begin
  if CurUninstallStep = usPostUninstall then
  begin
    Kept := 'vxassist is removed. Each user''s audit trail and session recordings are kept ' +
      'in {#UserDataDir} (the audit and recordings folders): they are the record of what ' +
      'support engineers did on this computer. Delete them when your records policy allows.';
    Log(Kept);
    if not UninstallSilent then
      MsgBox(Kept, mbInformation, MB_OK);
  end;
end;

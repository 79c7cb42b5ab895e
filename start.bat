@echo off
chcp 65001 >nul
setlocal
rem Starts the medsync Windows service and shows its state.
rem Works from any current folder: medsync.exe and config.ini are next to this script.
rem The window stays open at the end when the script was started by a double-click or
rem "Run as administrator"; from an open console, or with /quiet, it does not wait.
rem The exit code is kept: 0 on success, 1 on failure.
set "RC=0"
set "PAUSE_AT_END="
echo %cmdcmdline% | findstr /i /c:"%~nx0" >nul && set "PAUSE_AT_END=1"
if /i "%~1"=="/quiet" set "PAUSE_AT_END="
net session >nul 2>&1
if errorlevel 1 (
  echo Нужны права администратора. Щёлкните файл start.bat правой кнопкой мыши и выберите «Запуск от имени администратора».
  set "RC=1"
  goto :end
)
set "DIR=%~dp0"
if not exist "%DIR%medsync.exe" (
  echo Не найден файл "%DIR%medsync.exe". Положите start.bat в папку с medsync.exe.
  set "RC=1"
  goto :end
)
if not exist "%DIR%config.ini" (
  echo Не найден файл "%DIR%config.ini". Скопируйте образец config.ini в папку с medsync.exe и заполните его.
  set "RC=1"
  goto :end
)
"%DIR%medsync.exe" -c "%DIR%config.ini" start
if errorlevel 1 (
  echo Служба не запустилась. Запустите "%DIR%medsync.exe" check и посмотрите журнал в папке logs.
  set "RC=1"
  goto :end
)
echo Служба запущена. Состояние:
"%DIR%medsync.exe" -c "%DIR%config.ini" status
:end
if defined PAUSE_AT_END (
  echo.
  pause
)
exit /b %RC%

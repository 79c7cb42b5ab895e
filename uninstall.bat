@echo off
chcp 65001 >nul
setlocal
rem Stops and removes the medsync Windows service (config, logs and state stay).
rem Works from any current folder: medsync.exe and config.ini are next to this script.
net session >nul 2>&1
if errorlevel 1 (
  echo Нужны права администратора. Щёлкните файл uninstall.bat правой кнопкой мыши и выберите «Запуск от имени администратора».
  exit /b 1
)
set "DIR=%~dp0"
if not exist "%DIR%medsync.exe" (
  echo Не найден файл "%DIR%medsync.exe". Положите uninstall.bat в папку с medsync.exe.
  exit /b 1
)
if not exist "%DIR%config.ini" (
  echo Не найден файл "%DIR%config.ini". Скопируйте образец config.ini в папку с medsync.exe и заполните его.
  exit /b 1
)
"%DIR%medsync.exe" -c "%DIR%config.ini" stop >nul 2>&1
"%DIR%medsync.exe" -c "%DIR%config.ini" uninstall
if errorlevel 1 (
  echo Не удалось удалить службу. Подробности выше.
  exit /b 1
)
echo Служба удалена. Папки config.ini, logs и state не тронуты.
exit /b 0

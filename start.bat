@echo off
chcp 65001 >nul
setlocal
rem Starts the medsync Windows service and shows its state.
rem Works from any current folder: medsync.exe and config.ini are next to this script.
net session >nul 2>&1
if errorlevel 1 (
  echo Нужны права администратора. Щёлкните файл start.bat правой кнопкой мыши и выберите «Запуск от имени администратора».
  exit /b 1
)
set "DIR=%~dp0"
if not exist "%DIR%medsync.exe" (
  echo Не найден файл "%DIR%medsync.exe". Положите start.bat в папку с medsync.exe.
  exit /b 1
)
if not exist "%DIR%config.ini" (
  echo Не найден файл "%DIR%config.ini". Скопируйте образец config.ini в папку с medsync.exe и заполните его.
  exit /b 1
)
"%DIR%medsync.exe" -c "%DIR%config.ini" start
if errorlevel 1 (
  echo Служба не запустилась. Запустите "%DIR%medsync.exe" check и посмотрите журнал в папке logs.
  exit /b 1
)
echo Служба запущена. Состояние:
"%DIR%medsync.exe" -c "%DIR%config.ini" status
exit /b 0

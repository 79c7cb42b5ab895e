@echo off
chcp 65001 >nul
setlocal
rem Installs medsync as a Windows service (automatic start, restart on failure).
rem Works from any current folder: medsync.exe and config.ini are next to this script.
net session >nul 2>&1
if errorlevel 1 (
  echo Нужны права администратора. Щёлкните файл install.bat правой кнопкой мыши и выберите «Запуск от имени администратора».
  exit /b 1
)
set "DIR=%~dp0"
if not exist "%DIR%medsync.exe" (
  echo Не найден файл "%DIR%medsync.exe". Положите install.bat в папку с medsync.exe.
  exit /b 1
)
if not exist "%DIR%config.ini" (
  echo Не найден файл "%DIR%config.ini". Скопируйте образец config.ini в папку с medsync.exe и заполните его.
  exit /b 1
)
echo Проверка настроек (medsync check)...
"%DIR%medsync.exe" -c "%DIR%config.ini" check
if errorlevel 1 (
  echo.
  echo Проверка нашла ошибки ^(строки с ✗ выше^). Служба всё равно будет установлена; исправьте config.ini до запуска.
)
echo.
echo Установка службы...
"%DIR%medsync.exe" -c "%DIR%config.ini" install
if errorlevel 1 (
  echo Не удалось установить службу. Подробности выше.
  exit /b 1
)
echo Служба установлена. Запустите её файлом start.bat.
exit /b 0

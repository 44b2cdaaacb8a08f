# escape=`
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
RUN dir C:\ `
    && echo done
COPY app C:\app\
RUN echo one \

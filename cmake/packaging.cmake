# SPDX-License-Identifier: BSD-3-Clause
# packaging.cmake - what cmake --install and cpack put on a system besides the
# libraries and the header: the CMake package, the man pages, the boot-time
# recovery unit, the nvmmio command when its target is part of the build, and
# the Debian package.
include(CMakePackageConfigHelpers)

set(NVMMIO_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/libnvmmio)
set(NVMMIO_UNITDIR lib/systemd/system
    CACHE STRING "Where the systemd unit goes, relative to the install prefix")
# The target of the nvmmio command (its executable is named nvmmio; the
# library already holds the target name nvmmio).
set(NVMMIO_COMMAND_TARGET nvmmio_cmd)

install(EXPORT libnvmmioTargets NAMESPACE libnvmmio:: DESTINATION ${NVMMIO_CMAKEDIR})
configure_package_config_file(cmake/libnvmmioConfig.cmake.in libnvmmioConfig.cmake
                              INSTALL_DESTINATION ${NVMMIO_CMAKEDIR})
# Before 1.0 a minor release may change the interface.
write_basic_package_version_file(libnvmmioConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/libnvmmioConfig.cmake
              ${CMAKE_BINARY_DIR}/libnvmmioConfigVersion.cmake
        DESTINATION ${NVMMIO_CMAKEDIR})

install(FILES man/nvmmio.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES man/libnvmmio.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3)
install(FILES man/libnvmmio.7 DESTINATION ${CMAKE_INSTALL_MANDIR}/man7)
install(FILES packaging/nvmmio.default DESTINATION ${CMAKE_INSTALL_DATADIR}/libnvmmio)

# The unit names the command by its absolute path, which is known only when
# installing (cmake --install --prefix, cpack): it is written then.
install(CODE "
  set(NVMMIO_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(unit \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${NVMMIO_UNITDIR}/nvmmio-recover.service\")
  message(STATUS \"Installing: \${unit}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/nvmmio-recover.service.in\" \"\${unit}\" @ONLY)
  list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${unit}\")
")

# Evaluated once every directory has been read, wherever the command's
# target is defined.
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL nvmmio_install_command)
function(nvmmio_install_command)
  if(TARGET ${NVMMIO_COMMAND_TARGET})
    install(TARGETS ${NVMMIO_COMMAND_TARGET} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endfunction()

# ---- Debian package (cpack -G DEB) ------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME libnvmmio)
set(CPACK_PACKAGE_VENDOR "The libnvmmio authors")
set(CPACK_PACKAGE_CONTACT "The libnvmmio authors")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "failure-atomic memory-mapped file IO for persistent memory")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/LICENSE)
# cpack runs the install rules with this prefix (and DESTDIR its staging
# area), so the unit names /usr/bin/nvmmio.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# libpmem is opened at run time (src/pmem/libpmem.c), so no shlibdeps finds it.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libpmem1, libc6")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
include(CPack)

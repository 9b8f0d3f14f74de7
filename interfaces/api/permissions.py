from rest_framework.permissions import SAFE_METHODS, BasePermission


class CanStartWork(BasePermission):
    """Reading needs an authenticated user; starting work needs staff or the ``backtests.start_work`` permission."""

    message = "Starting work needs a staff account or the 'backtests.add_researchjob' permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        return bool(user.is_staff or user.has_perm("backtests.add_researchjob"))
